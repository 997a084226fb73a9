"""The control plane: portal client, trust (JWKS, grants), subscription bookkeeping, reports."""
