"""Small helpers below the domain: text cleaning, display, exports."""
