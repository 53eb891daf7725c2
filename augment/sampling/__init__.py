"""Wing 6: images from a trained generator: seeded sampling by label (generation), the restyle and
transfer sets from real images (restyle), the stylisation grids and metrics' drawings (stylize) and
image grids (grids).

May import: data, params, models, core, settings."""
