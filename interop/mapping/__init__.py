"""FHIR R4 mapping of Crossroad, one module per resource family (SPEC "Hospital
interoperability")."""
