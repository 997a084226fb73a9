"""Dependencies the routes share, named once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pec_shop.shop import Shop


def get_shop(request: Request) -> Shop:
    shop: Shop = request.app.state.shop
    return shop


ShopDep = Annotated[Shop, Depends(get_shop)]
