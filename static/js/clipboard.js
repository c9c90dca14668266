// Copy buttons: a click on [data-copy-target="id"] copies that input's value.
// Tracking of these clicks is declared in the markup (data-event-tracking), not here.
document.addEventListener('click', (event) => {
  const button = event.target.closest('[data-copy-target]');
  const input = button && document.getElementById(button.dataset.copyTarget);
  if (!input) return;
  input.select();
  if (navigator.clipboard) navigator.clipboard.writeText(input.value).catch(() => {});
  const label = button.textContent;
  button.textContent = 'Copied';
  setTimeout(() => {
    button.textContent = label;
  }, 1200);
});
