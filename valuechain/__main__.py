from valuechain.cli import app

app(prog_name="python -m valuechain")
