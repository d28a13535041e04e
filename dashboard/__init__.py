"""Entry points: the Streamlit app, the launcher and the command-line interface."""
