"""Built-in model plugins: zxVAD and the FFP, MPN and rGAN baselines (a folder each, the method
class in its own module) and the frame-difference baseline."""
