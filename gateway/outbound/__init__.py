"""Messages on their way out: the sendMessage rules, dispatch, pacing, recording results."""
