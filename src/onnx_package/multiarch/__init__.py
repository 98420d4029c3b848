"""multiarch"""
