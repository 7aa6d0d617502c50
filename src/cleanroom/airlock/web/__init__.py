"""The airlock's web side: the tornado app, its handlers (REST API and pages), the page
templates and static files, and the API's OpenAPI document."""
