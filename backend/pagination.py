from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """API.md lists: `{"next", "previous", "results"}`, stable under inserts (phones page while syncing)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-created_at", "id")
