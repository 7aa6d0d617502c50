"""What the airlock reads in a researcher's files: the media type from the content
(``mediatypes``), the automatic checks (``checks``) and the reviewers' previews and diffs
(``previews``)."""
