"""Wing 7: training a generator: the one loop (loop) and its Callback protocol (callbacks), the
generator stage's driver (generator_training), checkpoints (checkpoint), the CVAE-GAN's warm start
(warm_start) and device and thread set-up (device).

May import: sampling, data, params, models, core, settings."""
