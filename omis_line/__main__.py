from omis_line.cli import app

app(prog_name="omis-line")
