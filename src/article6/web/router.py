"""All screens of the web application as one router, mounted by the application."""

from __future__ import annotations

from fastapi import APIRouter

from article6.web import pages_main, pages_projects, pages_registry, pages_reports

web_router = APIRouter(include_in_schema=False)
web_router.include_router(pages_main.router)
web_router.include_router(pages_projects.router)
web_router.include_router(pages_registry.router)
web_router.include_router(pages_reports.router)
