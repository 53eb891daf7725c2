"""Wing 5: real data: the train / val / test splits of the configured dataset (splits), the
datasets themselves and their download or loading (datasets), the stratified and rare-class
splitting (splitting), the labelled-images record (labeled), the torchvision dataset view
(image_dataset) and the manifest each downstream source trains from (source_files).

May import: params, models, core, settings."""
