"""Built-in default settings (the first configuration layer), read with importlib.resources."""
