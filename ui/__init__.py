"""The Gradio study page."""
