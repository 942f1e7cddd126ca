"""The regional Tue/Fri 6 PM schedule: when each region's window opens (regional) and
when each device starts inside it (planner). Pure planning: sisapp.scheduler fires it.
"""
