"""The live service: frames in from a scanner, predictions out to 3D Slicer (Qt-free).

* :class:`~motionpredict.live.slot.LatestSlot`: the newest frame wins; skipped frames are counted.
* :class:`~motionpredict.live.session.LiveSession`: builds the motion model from the first N frames
  received and predicts each later frame causally.
* :mod:`~motionpredict.live.dicom_in` (DICOM C-STORE, pynetdicom) and
  :mod:`~motionpredict.live.folder_in` (watched folder, watchdog): inputs.
* :mod:`~motionpredict.live.igtl_out`: OpenIGTLink output (pyigtl): TRANSFORM, IMAGE, STRING.
* :mod:`~motionpredict.live.log`: the JSON-lines log, one line per event, flushed.
* :mod:`~motionpredict.live.service`: ties them together (``motionpredict live``).
* :mod:`~motionpredict.live.replay`: replays a recorded sequence as a scanner would
  (``motionpredict send``).
"""
