"""One module per benchmark: load prompts, judge a sample, aggregate with the official formula."""
