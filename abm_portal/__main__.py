from abm_portal.cli import app

app(prog_name="abm-portal")
