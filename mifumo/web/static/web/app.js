// Small behaviours shared by the pages; each page's own code lives next to its template.
document.addEventListener("DOMContentLoaded", () => {
  // A confirmation that says what will happen: <button data-confirm="Delete 12 contacts?">
  document.body.addEventListener("click", (event) => {
    const button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });
});
