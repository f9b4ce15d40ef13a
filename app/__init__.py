"""ModeScope's Streamlit app: a router (streamlit_app.py), one file a page, and small helper modules."""
