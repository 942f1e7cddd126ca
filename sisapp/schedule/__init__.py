"""The regional Tue/Fri 6 PM schedule: when each region's window opens (regional), when
each device starts inside it (planner), and the rq-scheduler glue that fires it (scheduler).
"""
