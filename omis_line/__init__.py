"""OMIS line: the manufacturer's ERP, MES and a simulated six-station bottling line with RFID trace and OEE.

It talks to OMIS's AAdSys over HTTP only (DESIGN §2): it imports nothing of ``aadsys`` or its neighbours.
"""
