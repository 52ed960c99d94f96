"""The API's routes, one module per noun; importing a module registers its routes (see `app.CORE_MODULES`)."""
