"""REST routes, one module per resource; each route validates input, calls one service and shapes the answer."""
