// Copy an example to the clipboard by clicking it (everything else works without JavaScript).
document.addEventListener("click", (event) => {
  const target = event.target.closest(".copy");
  if (!target || !navigator.clipboard) return;
  navigator.clipboard.writeText(target.textContent.trim()).then(() => {
    target.classList.add("copied");
    setTimeout(() => target.classList.remove("copied"), 800);
  });
});
