"""Wing 4: reading and checking params.yaml as a whole: the Params view and the sections that depend
on what is installed (config), the file reader with its one-line errors and --set (file), the
methods a run compares (methods) and the downstream sources and what each name means (sources).

May import: models, core, settings."""
