# Filled by the API work (issue 4).
urlpatterns: list = []
