// The compose page: show the fields of the chosen audience and timing, fill the text from a
// template, remove chosen contacts, and keep Enter in the contact search from sending.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("compose-form");
  if (!form) return;
  const message = document.getElementById("id_message");
  const submit = document.getElementById("send-submit");
  const templates = JSON.parse(document.getElementById("templates-data").textContent);
  const recipientsChanged = () => document.body.dispatchEvent(new Event("recipients-changed"));

  const checked = (name) => (form.querySelector(`input[name="${name}"]:checked`) || {}).value;
  const show = () => {
    const audience = checked("audience") || "contacts";
    form.querySelectorAll("[data-audience]").forEach((section) => {
      section.hidden = section.dataset.audience !== audience;
    });
    const later = checked("when") === "later";
    form.querySelectorAll('[data-when="later"]').forEach((section) => { section.hidden = !later; });
    submit.textContent = later ? "Schedule" : "Send now";
  };
  show();

  form.addEventListener("change", (event) => {
    const name = event.target.name;
    if (name === "template" && templates[event.target.value] !== undefined) {
      message.value = templates[event.target.value];
      message.dispatchEvent(new Event("input", { bubbles: true }));
    }
    if (name === "audience" || name === "when") show();
    if (name === "audience") recipientsChanged();
  });

  form.addEventListener("click", (event) => {
    const remove = event.target.closest("[data-remove-chip]");
    if (!remove) return;
    remove.closest("li").remove();
    // Search again, so that its result (if shown) can be added again.
    const search = document.getElementById("contact-q");
    htmx.trigger(search, "search");
    search.focus();
    recipientsChanged();
  });

  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.matches("[data-no-submit]")) event.preventDefault();
  });
});
