"""What the app keeps between visits: saved scenarios in a real database (SQLAlchemy; SQLite by default).

``calc`` stays pure; pages reach the store through ``ui.results``. Nothing here imports streamlit.
"""
