from aadsys.cli import app

app(prog_name="aadsys")
