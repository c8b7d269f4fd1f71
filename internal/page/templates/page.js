// Take the code and state out of the address bar and the history entry.
history.replaceState(null, "", location.pathname);
// Close the window only when the operator asked for it (success pages).
var closeAfter = Number(document.body.getAttribute("data-close-after-ms"));
if (closeAfter > 0) {
  setTimeout(function () { window.close(); }, closeAfter);
}
