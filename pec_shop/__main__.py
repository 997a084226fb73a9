from pec_shop.cli import app

app(prog_name="pec-shop")
