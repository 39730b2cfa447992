"""Local development tools: an embedded Mixpanel /import sink and a demo that needs no AWS or Mixpanel account."""
