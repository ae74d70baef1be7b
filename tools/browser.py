"""Debian's Chromium as the browser tests and benchmarks launch it, and the waits they
share. Playwright drives it; its own browser download does not work here."""

import os

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")

# Flags that work as root with no network and a small /dev/shm.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

# A phone (the size of a common Android one) and a desktop, as Playwright context options.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


def wait_for_service_worker(page) -> None:
    """Until the worker is activated and controls the page (`ready` alone may resolve
    while it is still activating)."""
    page.evaluate(
        """async () => {
          const registration = await navigator.serviceWorker.ready;
          const worker = registration.active;
          if (worker.state !== "activated") {
            await new Promise((done) => worker.addEventListener("statechange",
              () => worker.state === "activated" && done()));
          }
          if (!navigator.serviceWorker.controller) {
            await new Promise((done) => navigator.serviceWorker.addEventListener(
              "controllerchange", done, { once: true }));
          }
        }"""
    )
