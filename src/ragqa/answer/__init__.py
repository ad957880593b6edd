"""Answer: retrieved chunks -> scored sentences -> regimen check -> cited, extractive answer."""
