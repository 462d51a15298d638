from handlers import create_web_app

app = create_web_app()
