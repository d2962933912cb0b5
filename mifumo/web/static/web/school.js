// School message compose: the subject only for e-mail, the time only when sending later.
// Without this script both stay visible, and the server says what is missing.
(() => {
  const form = document.getElementById("school-compose");
  if (!form) return;
  const subject = document.getElementById("subject-field");
  const schedule = document.getElementById("schedule-field");
  const update = () => {
    const method = form.querySelector("input[name=delivery_method]:checked");
    const when = form.querySelector("input[name=when]:checked");
    subject.hidden = !method || method.value !== "email";
    schedule.hidden = !when || when.value !== "later";
  };
  form.addEventListener("change", update);
  update();
})();
