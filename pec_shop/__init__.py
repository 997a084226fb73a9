"""PEC's juice e-shop: customers compose juices, orders go to PEC's AAdSys, production status comes back.

It imports nothing of AAdSys: it talks to its AAdSys over the business HTTP API only (see README.md).
"""
