"""The web application: server-rendered screens for every role and the public view.

A thin adapter over the services: each route reads a projection or calls one
service command, and shows a refusal's message on the form it came from.
"""
