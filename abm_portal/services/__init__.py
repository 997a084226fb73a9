"""The portal's domain operations, one module per area. Each function takes a database session and the
:class:`~abm_portal.services.actors.Actor` it acts for, checks that actor's rights, commits what it
changes and writes the audit trail. The REST API and the web pages both call only these.
"""
