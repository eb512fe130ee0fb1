"""Deployment: the hardened Streamlit launcher (``serve.py``) and N replicas behind HAProxy (``replicas.py``)."""
