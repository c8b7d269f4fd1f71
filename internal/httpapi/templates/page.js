  // Take the code and state out of the address bar and the history entry.
  history.replaceState(null, "", location.pathname);
