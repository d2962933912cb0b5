// The contact list: tick a page's rows at once, say how many contacts are selected, and show
// the tag box only for "Add a tag". htmx swaps the list when filtering, so the listeners are
// on the document and the state is read again after each swap.
(() => {
  const update = () => {
    const form = document.getElementById("bulk");
    if (!form) return;
    const rows = [...document.querySelectorAll(".row-select")];
    const ticked = rows.filter((box) => box.checked).length;
    const pageBox = document.getElementById("select-page");
    pageBox.checked = rows.length > 0 && ticked === rows.length;
    pageBox.indeterminate = ticked > 0 && ticked < rows.length;
    const everything = document.getElementById("all-matching").checked;
    const count = everything ? Number(form.dataset.total) : ticked;
    // A name search counts up to a cap: "more than 10,000"; the confirmation says how many.
    const more = everything && "capped" in form.dataset ? "More than " : "";
    document.getElementById("selection").textContent = count
      ? `${more}${count.toLocaleString("en")} selected`
      : "None selected";
    form.querySelector(".bulk-tag").hidden = document.getElementById("bulk-action").value !== "tag";
    form.querySelector("button[type=submit]").disabled = count === 0;
  };
  document.addEventListener("change", (event) => {
    if (event.target.id === "select-page") {
      for (const box of document.querySelectorAll(".row-select")) box.checked = event.target.checked;
    }
    update();
  });
  document.addEventListener("DOMContentLoaded", update);
  document.addEventListener("htmx:afterSettle", update);
})();
