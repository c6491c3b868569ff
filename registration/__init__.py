"""Image registration (optical flow, 2D and 3D) and warping; imported as ``motionpredict.registration``."""
