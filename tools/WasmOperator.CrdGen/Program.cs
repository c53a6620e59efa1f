// Regenerates crds/wasmplugin.yaml from the C# API types (make crds).
return 0;
