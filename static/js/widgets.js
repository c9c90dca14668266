/**
 * Mounts the Vue components whose placeholders are on the page. Vue and the
 * component load only where they are used; the import map resolves both names.
 */
const projectWidget = document.getElementById('project-widget');
if (projectWidget) {
  Promise.all([import('vue'), import('~/components/ProjectWidget.vue')])
    .then(([{ createApp }, { default: ProjectWidget }]) => {
      createApp(ProjectWidget, { projectName: projectWidget.dataset.projectName || '' }).mount(projectWidget);
    })
    .catch((error) => console.error('Project widget failed to load:', error));
}
